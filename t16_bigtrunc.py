import os, shutil, numpy as np, ckpt, sys
os.environ.setdefault("CKPT_IO_THREADS","3")
src="/tmp/review2/tf1"; d="/tmp/review2/bigtrunc"; shutil.rmtree(d,ignore_errors=True); shutil.copytree(src,d)
f=d+"/ck-1.data-00000-of-00001"; orig=open(f,"rb").read(); n=len(orig)
r=ckpt.load_checkpoint(d+"/ck-1"); truth={k:r.get_tensor(k) for k in r}; r.close()
rng=np.random.default_rng(0)
cuts=sorted(set([0,1,n-1,n-2,n//2]+list(rng.integers(0,n,25))))
bad=[]
for c in cuts:
    with open(f,"r+b") as fh: fh.truncate(c)
    r=ckpt.load_checkpoint(d+"/ck-1")
    for k in r:
        try:
            v=r.get_tensor(k)
            if not (v.shape==truth[k].shape and (list(v.ravel())==list(truth[k].ravel()) if v.dtype==object else v.tobytes()==truth[k].tobytes())): bad.append(("WRONG",c,k))
        except ckpt.errors.CheckpointError as e:
            if not isinstance(e,ValueError): bad.append(("notValueError",c,k,type(e).__name__))
            if k not in str(e): bad.append(("nokey",c,k,str(e)[:100]))
        except Exception as e: bad.append(("RAW",c,k,type(e).__name__,str(e)[:100]))
        try:
            v=r.get_view(k)
            v.sum() if v.dtype.kind in "fiub" else None
        except ckpt.errors.CheckpointError: pass
        except Exception as e: bad.append(("RAWVIEW",c,k,type(e).__name__,str(e)[:100]))
    r.close()
    open(f,"wb").write(orig)
# zero a 4KiB page in the middle of big20
print("cuts",len(cuts),"problems",bad[:10],len(bad))

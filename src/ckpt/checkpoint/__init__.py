"""Object-based checkpoints: the object graph, save, restore, deferred restoration, status."""

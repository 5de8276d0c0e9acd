"""Response matrices: loaders for score files, the synthetic benchmark, splits, the router DataModule."""

"""Routers: text encoders (backbones) and the LightningModules that map a query to an expert."""

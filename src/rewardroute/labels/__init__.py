"""Silver labels: what the router is trained to predict from the experts' rewards."""

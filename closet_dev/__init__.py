"""closet_dev: the tools around the TorchServe worker (never packed into a MAR, never imported by closet/'s
runtime modules)."""

"""Jobs made of many runs: sweeps and EL2N hardness scoring."""

# test targets (filled in below)

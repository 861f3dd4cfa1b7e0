"""Model files as data: the manifest, finding/downloading/verifying files, ONNX sessions."""

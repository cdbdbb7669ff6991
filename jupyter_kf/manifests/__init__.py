"""Pure builders: validated specs in, plain Kubernetes dicts out. No I/O, so trivially tested."""

"""Suite kinds: check, stigma, counterfactual and persona, one module or subpackage each, registered by name in
:mod:`mindrail.bench.registry`."""

"""Built-in implementations: gatecore (the project's own autodiff core) and mutants (the self-test)."""

"""pytest plugin for mutant runs (``-p verification.mutant_plugin``): hypothesis stops at the
first failing example instead of shrinking it, since a mutant run only needs to know *that*
a test fails, and shrinking a contract round costs a deployment per step."""

from hypothesis import Phase, settings

settings.register_profile("mutants", deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutants")

"""The experiments and studies: one module each, paired with ``conf/experiment/<name>.yaml``.

Each module reads top to bottom as: its config schema (a subclass of
:class:`typicality_ntk.config.Config` holding the keys it owns, with their checks), its points,
its one-sample function (a pure function of the config's static values and ONE PRNG key; the
runner owns jit/vmap/chunking, the store owns files), and the figures it draws; it exposes
``EXPERIMENT`` (a :class:`typicality_ntk.sweep.Experiment`) or ``STUDY``. ``tntk
experiment=<name>`` runs ``experiments.<name>``; ``module=<dotted.path>`` runs any importable
module. The library (``src/typicality_ntk``) imports nothing from here.
"""

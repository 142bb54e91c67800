"""The study on top of the method library: the paper's workflow and its reporting.

Data (:mod:`~divlib.study.data`: registry, parsers, splits), the settings of ``params.yaml``
(:mod:`~divlib.study.params`), where files live (:mod:`~divlib.study.layout`), runs of the paper's
experiments (:mod:`~divlib.study.experiment`), evaluation over users and seeds
(:mod:`~divlib.study.evaluation`), tables, verdicts, figures and the report. It needs the ``study``
extra (polars, pydantic, matplotlib, papermill, …); the method library (``divlib`` outside this
package) imports nothing from here.
"""

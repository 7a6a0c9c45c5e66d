"""qbank's shipped LaTeX templates, installed as the package ``qbank_templates`` so that a
pip-installed qbank finds them too; a bank's own ``templates/`` folder is searched first."""

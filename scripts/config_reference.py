"""Print the configuration reference (docs/config.md) generated from the settings' dataclasses.

python scripts/config_reference.py > docs/config.md
"""

from transencoder.training.config import reference_markdown

print(reference_markdown())

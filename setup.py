"""Maps the repository's top-level folders into one ``art2mus`` import namespace.

``installation/`` becomes ``art2mus.installation``, ``models/`` becomes ``art2mus.models`` and so on,
so that no bare ``models`` package is ever installed. Sub-packages are found automatically; the
demo exhibit and the control panel's static files travel as package data so that a wheel install
can run ``art2mus demo``. Everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

CODE_FOLDERS = ("common", "installation", "models", "training", "kiosk_ui")

# the demo collection's painter (exhibits/demo_collection) travels with the exhibit it paints
packages = ["art2mus.exhibits", *(f"art2mus.exhibits.{sub}" for sub in find_packages("exhibits"))]
package_dir = {"art2mus.exhibits": "exhibits"}
for folder in CODE_FOLDERS:
    package_dir[f"art2mus.{folder}"] = folder
    packages.append(f"art2mus.{folder}")
    packages += [f"art2mus.{folder}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "art2mus.exhibits": ["**/*.yaml", "**/*.png", "**/*.jpg", "**/*.mp4", "**/*.wav", "**/*.md"],
        "art2mus.kiosk_ui": ["static/*", "static/**/*"],
    },
    include_package_data=False,
)

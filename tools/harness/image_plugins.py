"""Which optional plugins the orthancteam/orthanc image loads for one replica, and which of them the
harness can load from Debian's packages in its place.

The image's rule, as orthanc_settings.json records it from orthanc-builder: a plugin's switch
variable set to anything but "false" loads it; a plugin whose switch is not required also loads
when its section is present in the configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from tools.harness.orthanc import debian_plugin, postgres_plugin

# The image's plugin -> Debian's library and package (bookworm: DICOMweb 1.7; no OHIF, no Stone).
DEBIAN_PLUGINS: Final = {"DicomWeb": ("libOrthancDicomWeb", "orthanc-dicomweb")}


def plugin_switches() -> dict[str, dict[str, Any]]:
    """Switch variable -> {plugin, section, env_var_required}, from the settings allow-list."""
    settings = json.loads((resources.files("orthweb") / "data" / "orthanc_settings.json").read_text())
    return dict(settings["plugin_switches"])


def image_plugins(environment: Mapping[str, str], config: Mapping[str, Any]) -> frozenset[str]:
    """The optional plugins the image would load for this environment and configuration."""
    loaded: set[str] = set()
    for variable, switch in plugin_switches().items():
        switched_on = variable in environment and environment[variable] != "false"
        by_section = not switch["env_var_required"] and switch["section"] in config
        if switched_on or by_section:
            loaded.add(switch["plugin"])
    return frozenset(loaded)


def harness_plugins(environment: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """The plugin files a harness replica loads: the PostgreSQL index, then each optional plugin the
    image would load and Debian packages."""
    wanted = sorted(image_plugins(environment, config) & set(DEBIAN_PLUGINS))
    return [postgres_plugin(), *(debian_plugin(*DEBIAN_PLUGINS[plugin]) for plugin in wanted)]


def plugins_not_run(environment: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """What the image would load that the harness cannot: checked statically only."""
    return sorted(image_plugins(environment, config) - set(DEBIAN_PLUGINS))

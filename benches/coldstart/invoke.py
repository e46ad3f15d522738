"""One Lambda cold start: import a handler module and call it once with an event.

    python invoke.py HANDLER_DIR MODULE FUNCTION EVENT_FILE

Runs with HANDLER_DIR as the working directory and first on ``sys.path``, as Lambda runs a
function from its root. What the handler prints is the caller's to discard.
"""

import importlib
import json
import sys

handler_dir, module_name, function_name, event_file = sys.argv[1:5]
sys.path.insert(0, handler_dir)
with open(event_file) as file:
    event = json.load(file)
handler = getattr(importlib.import_module(module_name), function_name)
handler(event, None)

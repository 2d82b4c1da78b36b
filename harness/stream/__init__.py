"""The pure core: the SSE codec, normalized events, adapters in, renderers out.

Nothing here touches a socket, a file, a clock or an event loop, or imports a web
stack (an import-linter contract in ``make lint`` holds it to that).
"""

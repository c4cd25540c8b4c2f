"""TorchServe-facing glue shared by the handlers: request options, replies, the base handler.

Nothing here imports `ts`; handlers receive TorchServe's context object and pass it in.
"""

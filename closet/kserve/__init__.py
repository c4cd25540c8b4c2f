"""The second runtime: the same handlers, from the same MARs, served by KServe's own Python model server.

    python -m closet.kserve --model-store model-store       # `make serve RUNTIME=kserve`

TorchServe runs each MAR's handler in a worker process behind its Java frontend; here one Python
process extracts the same archives (manifest-checked), imports the same handler classes, and puts
each behind a `kserve.Model` with an in-process batcher. Only the protocol layer differs:

    archive.py   MAR -> extracted, verified folder + its handler object
    model.py     ClosetModel: one kserve.Model per endpoint (v1, v2 REST, gRPC v2 come from KServe)
    rest.py      what KServe's REST server lacks: /predictions/<model>, /ping, the v2 binary_data
                 extension for BYTES, the closet error contract, a request size limit
    manage.py    the read-only describe API on the management port (loopback)
    metrics.py   closet's metrics and TorchServe's frontend counters on prometheus_client
    server.py    assembly, ports from config/closet.yaml, and the command line

Nothing here is imported by a TorchServe worker (the MARs pack it with the rest of `closet/`).
"""

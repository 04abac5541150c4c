"""Scale-out: distributed teacher extraction, encoding and sharded indexes on Ray, data-parallel training.

=====================================  ===========================================================
module                                 job
=====================================  ===========================================================
:mod:`.runtime`                        connect to a Ray cluster, or start a local one
:mod:`.pool`                           model-holding actors that survive lost workers and nodes
:mod:`.preflight`                      check every node (same code, readable paths) before work
:mod:`.local_cluster`                  a real multi-node Ray cluster on this host (tests, benches)
:mod:`.node_loss`                      fault injection: a node killed mid-extraction
:mod:`.replica_failover`               fault injection: a node killed under search load
:mod:`.extract`                        teacher extraction in model-holding Ray actors, one feature
                                       cache written shard by shard (resumable)
:mod:`.shard_cache`                    the per-shard files and manifest of that extraction
:mod:`.ray_fanout`                     the ``ray`` fan-out of a sharded index (shards in Ray actors)
:mod:`.encode`                         the ``ray`` encoding engine (actors read their rows from the
                                       feature cache and encode them)
:mod:`.shard_writers`                  a sharded index built on the workers (buckets, verified
                                       shards; the driver writes only ``sharded.json``)
:mod:`.data_parallel`                  ``torch.distributed`` (gloo) data-parallel training
=====================================  ===========================================================

The sharded index itself, its manifest and its in-process fan-outs live in :mod:`distilhash.index.sharded`
(local, no Ray); this package only adds the Ray parts, registered by name in the registries of
``index/`` and ``pipeline/`` (it imports them, never the reverse).

Ray is optional and imported lazily (inside the functions that need a session), never by ``import distilhash``.
See docs/distributed.md.
"""

"""The live path between one ingest and sharded runners: Redis Streams, one stream per shard."""

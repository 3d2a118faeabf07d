"""The service's protobuf client protocol: ``webpubsub_v1.proto`` as published by Microsoft in
Azure/azure-webpubsub, ``protocols/protobuf.webpubsub.azure.v1/webpubsub.v1.proto`` (MIT; commit
45d1999d798e1f79b4daf793bfb77a8e7f11a965), content unchanged, renamed so that protoc generates an
importable module. ``webpubsub_v1_pb2.py``/``.pyi`` are generated from it by ``make proto``."""

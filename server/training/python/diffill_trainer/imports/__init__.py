"""Converting published checkpoints into Diffill model directories (docs/model-format.md).

Each module reads one part of a checkpoint published elsewhere and writes the form the engine loads:
`tokenizer` turns a tokenizer.json or a SentencePiece tokenizer.model into the tokenizer.json the
engine reproduces exactly; the weight converters beside it turn the weights into the model directory.
"""

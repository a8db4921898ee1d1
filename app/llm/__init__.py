"""Models: the local llama.cpp engine, remote endpoints, GGUF files, the catalogue, prompt formats and the prompts."""

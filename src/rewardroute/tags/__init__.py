"""Query taggers for tag-based label enhancement: an InsTag-style LLM tagger, embedding clusters, recorded tags."""

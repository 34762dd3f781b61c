import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["TINYCODE_ALLOW_MODEL_REQUESTS"] = "0"  # any non-loopback model request fails

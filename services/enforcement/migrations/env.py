from services.enforcement.models import metadata
from shared.migrations_env import run

run(metadata)

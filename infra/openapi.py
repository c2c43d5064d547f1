"""Print the OpenAPI document (make openapi writes it to docs/openapi.json)."""

import json

from shared.api.openapi import document

if __name__ == "__main__":
    print(json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True))

"""Write openapi/openapi.json from the app (run after changing a route or schema).

    python -m scripts.export_openapi
"""

from app.openapi_file import TARGET, render

if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")

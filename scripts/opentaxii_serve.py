"""Runs an OpenTAXII TAXII 2.1 server on loopback for tests/it/taxii_servers.rs.

Usage: opentaxii_serve.py DIR PORT USER PASSWORD TITLE

Writes DIR/opentaxii.yml (SQLite databases in DIR, TAXII 1 off), creates one API root and
one collection (alias `irtx`) and an admin account USER:PASSWORD through OpenTAXII's own
persistence and auth APIs, prints one JSON line {"discovery", "collection"} with their URLs,
then serves on 127.0.0.1:PORT until killed, TITLE as its discovery title. Everything stays
in DIR.
"""

import json
import os
import sys


def main():
    directory, port, user, password, title = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    config = os.path.join(directory, "opentaxii.yml")
    with open(config, "w") as f:
        f.write(
            f"""---
domain: "127.0.0.1:{port}"
support_basic_auth: yes
return_server_error_details: yes
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: sqlite:///{directory}/auth.db
    create_tables: yes
    secret: loopback-test-secret-{os.getpid()}
    token_ttl_secs: 3600
taxii1:
taxii2:
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: sqlite:///{directory}/data.db
      create_tables: yes
  max_content_length: 10485760
  title: {json.dumps(title)}
  public_discovery: true
logging:
  opentaxii: warning
  root: warning
"""
        )
    os.environ["OPENTAXII_CONFIG"] = config
    # Imported after the configuration exists: OpenTAXII reads it at import.
    from opentaxii.cli import app

    app.debug = False
    with app.app_context():
        persistence = app.taxii_server.servers.taxii2.persistence.api
        root = persistence.add_api_root(title="irtx tests", default=True)
        collection = persistence.add_collection(
            api_root_id=root.id, title="from irtx", alias="irtx"
        )
        app.taxii_server.auth.api.create_account(
            username=user, password=password, is_admin=True
        )
    base = f"http://127.0.0.1:{port}/taxii2/"
    print(
        json.dumps(
            {
                "discovery": base,
                "collection": f"{base}{root.id}/collections/{collection.id}/",
            }
        ),
        flush=True,
    )
    app.run(host="127.0.0.1", port=port, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()

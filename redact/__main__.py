from redact.cli import main

raise SystemExit(main())

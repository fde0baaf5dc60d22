from invoicing.cli import main

raise SystemExit(main())

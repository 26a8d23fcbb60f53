from transencoder.cli import main

raise SystemExit(main())

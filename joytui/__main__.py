from joytui.cli import main

raise SystemExit(main())

from omnigw.cli import main

raise SystemExit(main())

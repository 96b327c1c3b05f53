# Not a test: a shell on the console for exploring by hand (see lab/README.md).
setsid cttyhack sh

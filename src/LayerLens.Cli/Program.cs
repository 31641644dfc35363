using LayerLens.Cli;

return CliApp.Run(args);

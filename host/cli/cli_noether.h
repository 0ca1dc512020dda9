// diffsamp analyze noether (cli_noether.c), one of the analyses of cli_analyze.c.
#ifndef DS_CLI_NOETHER_H
#define DS_CLI_NOETHER_H

// Exit status 2 for a refused command line: the value cli_analyze's PARSE_ERROR has.
#define CLI_PARSE_ERROR (-2)

// 0, 1 after --help, CLI_PARSE_ERROR for a refused option, -1 when the work failed.
int cli_analyze_noether(int argc, char **argv);

#endif

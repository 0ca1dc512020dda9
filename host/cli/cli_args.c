// Option parsing for the subcommands: --name value, --name=value, --flag.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ds_backend.h"
#include "ds_error.h"

// The default, or nothing for an option whose help ends "(required)".
static void print_default(const cli_opt *o) {
    size_t len = strlen(o->help), tag = strlen("(required)");
    if (len >= tag && !strcmp(o->help + len - tag, "(required)")) return;
    switch (o->type) {
    case CLI_STR: {
        const char *s = *(const char **)o->value;
        printf(" (default: %s)", s ? s : "none");
        break;
    }
    case CLI_INT:
        printf(" (default: %lld)", (long long)*(int64_t *)o->value);
        break;
    case CLI_REAL:
        printf(" (default: %g)", *(double *)o->value);
        break;
    case CLI_FLAG:
        printf(" (default: %s)", *(int *)o->value ? "on" : "off");
        break;
    }
}

static void print_help(const char *command, const char *summary, const cli_opt *opts, int n) {
    printf("usage: diffsamp %s [options]\n\n%s\n\noptions:\n", command, summary);
    for (int i = 0; i < n; i++) {
        const char *arg = opts[i].type == CLI_FLAG   ? ""
                          : opts[i].type == CLI_INT  ? " N"
                          : opts[i].type == CLI_REAL ? " X"
                                                     : " VALUE";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", opts[i].name, arg);
        printf("  %-24s %s", left, opts[i].help);
        print_default(&opts[i]);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int set_value(const char *command, const cli_opt *o, const char *text) {
    char *end;
    errno = 0;
    switch (o->type) {
    case CLI_STR:
        if (!*text) return ds_fail("%s: --%s needs a non-empty value", command, o->name);
        *(const char **)o->value = text;
        return 0;
    case CLI_INT: {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end || errno)
            return ds_fail("%s: --%s expects an integer, got '%s'", command, o->name, text);
        *(int64_t *)o->value = v;
        return 0;
    }
    case CLI_REAL: {
        double v = strtod(text, &end);
        if (end == text || *end || errno || !isfinite(v))
            return ds_fail("%s: --%s expects a finite number, got '%s'", command, o->name, text);
        *(double *)o->value = v;
        return 0;
    }
    case CLI_FLAG:
        *(int *)o->value = 1;
        return 0;
    }
    return 0;
}

int cli_parse(const char *command, const char *summary, int argc, char **argv, const cli_opt *opts,
              int n_opts) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            print_help(command, summary, opts, n_opts);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return ds_fail("%s: unexpected argument '%s' (options start with --; see diffsamp "
                           "%s --help)",
                           command, arg, command);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (int j = 0; j < n_opts; j++)
            if (strlen(opts[j].name) == len && !strncmp(opts[j].name, name, len)) o = &opts[j];
        if (!o)
            return ds_fail("%s: unknown option '%s' (see diffsamp %s --help)", command, arg,
                           command);
        if (o->type == CLI_FLAG) {
            if (eq) return ds_fail("%s: --%s takes no value", command, o->name);
            set_value(command, o, "");
            continue;
        }
        const char *text = eq ? eq + 1 : NULL;
        if (!text) {
            if (i + 1 >= argc) return ds_fail("%s: --%s needs a value", command, o->name);
            text = argv[++i];
        }
        DS_TRY(set_value(command, o, text));
    }
    // A backend name is part of the command line: refused here, with exit status 2, like
    // every other bad option value.
    for (int i = 0; i < n_opts; i++) {
        if (strcmp(opts[i].name, "backend") || opts[i].type != CLI_STR) continue;
        const char *name = *(const char **)opts[i].value; // only a string option's value
        if (ds_backend_name_check(name))
            return ds_fail("%s: --backend: unknown backend '%s' (expected ref, cpu, cuda or auto)",
                           command, name ? name : "");
    }
    return 0;
}

int cli_check_int(const char *command, const char *name, int64_t v, int64_t min, int64_t max) {
    if (v >= min && v <= max) return 0;
    if (max == INT64_MAX)
        return ds_fail("%s: --%s must be >= %lld, got %lld", command, name, (long long)min,
                       (long long)v);
    return ds_fail("%s: --%s must be between %lld and %lld, got %lld", command, name,
                   (long long)min, (long long)max, (long long)v);
}

int cli_check_real(const char *command, const char *name, double v, double min, double max) {
    if (v >= min && v <= max) return 0;
    if (isinf(max)) return ds_fail("%s: --%s must be >= %g, got %g", command, name, min, v);
    return ds_fail("%s: --%s must be between %g and %g, got %g", command, name, min, max, v);
}

int cli_fail(int status) {
    fprintf(stderr, "diffsamp: %s\n", ds_error());
    return status;
}

int cli_given(int argc, char **argv, const cli_opt *opts, int n_opts, const char *name) {
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) continue;
        const char *arg = argv[i] + 2, *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (strlen(name) == len && !strncmp(arg, name, len)) return 1;
        for (int j = 0; j < n_opts; j++) // a value in the next argument is skipped
            if (strlen(opts[j].name) == len && !strncmp(opts[j].name, arg, len) && !eq &&
                opts[j].type != CLI_FLAG)
                i++;
    }
    return 0;
}

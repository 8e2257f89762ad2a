package main

import "fmt"

// subcommand runs the subcommand of a command group (token, pin, key, data) that args[0] names, with the
// rest of args; -h, --help and help print the group's help. choices lists the subcommands for the errors
// ("list, info, init or delete").
func (c *cli) subcommand(group, choices, help string, args []string, subs map[string]func([]string) error) error {
	if len(args) == 0 {
		return usagef("%s: missing subcommand (%s)", group, choices)
	}
	if run, ok := subs[args[0]]; ok {
		return run(args[1:])
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(c.stdout, help)
		return nil
	}
	return usagef("%s: unknown subcommand %q (%s)", group, args[0], choices)
}

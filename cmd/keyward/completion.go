package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Shell completion: `keyward completion bash|zsh|fish` prints a script generated from the commands table,
// the subcommands below and each command's own flags (read from its --help), so the scripts follow the CLI.

// subcommands are the groups' subcommands, in the order the help lists them.
var subcommands = map[string][]string{
	"token":      {"list", "info", "init", "delete"},
	"pin":        {"init", "change", "unlock"},
	"key":        {"generate"},
	"data":       {"put", "get"},
	"p11kit":     {"install", "uninstall"},
	"cert":       {"self-sign"},
	"completion": {"bash", "zsh", "fish"},
	"seal":       {"status", "migrate", "sign-policy"},
}

// completionKeyTypes are the --type values offered for key generate (each one parseKeyType accepts).
var completionKeyTypes = []string{
	"rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521", "ed25519", "ed448", "x25519", "x448",
	"aes:128", "aes:192", "aes:256", "hmac:256", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "ml-kem-512", "ml-kem-768", "ml-kem-1024",
}

// completionFlag is one command flag; value says it takes an argument.
type completionFlag struct {
	name  string
	value bool
}

// completionCommand is a command (or "cmd sub") with its flags.
type completionCommand struct {
	name, help string
	subs       []string
	flags      []completionFlag // of the command itself, or of its subcommands by name in subFlags
	subFlags   map[string][]completionFlag
}

func (c *cli) cmdCompletion(args []string) error {
	const usage = `usage: keyward completion bash|zsh|fish

Prints a shell completion script for keyward: its commands and subcommands, their flags, the key types
of key generate --type, and the global --store/--root-key.

examples:
  source <(keyward completion bash)                          # bash, this shell
  keyward completion bash > /etc/bash_completion.d/keyward   # bash, everyone
  keyward completion zsh > "${fpath[1]}/_keyward"            # zsh
  keyward completion fish > ~/.config/fish/completions/keyward.fish`
	if len(args) == 1 {
		switch args[0] {
		case "-h", "--help", "-help", "help":
			fmt.Fprintln(c.stdout, usage)
			return nil
		}
	}
	if len(args) != 1 {
		return usagef("completion: want one shell: bash, zsh or fish (usage: keyward completion bash|zsh|fish)")
	}
	cmds := completionCommands()
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion(cmds)
	case "zsh":
		script = zshCompletion(cmds)
	case "fish":
		script = fishCompletion(cmds)
	default:
		return usagef("completion: unknown shell %q (bash, zsh or fish)", args[0])
	}
	_, err := io.WriteString(c.stdout, script)
	return err
}

// completionCommands lists the commands, sorted, with their subcommands and flags.
func completionCommands() []completionCommand {
	var out []completionCommand
	for name, cmd := range commands {
		cc := completionCommand{name: name, help: cmd.help, subs: subcommands[name]}
		if len(cc.subs) == 0 {
			cc.flags = helpFlags(name)
		} else if name != "completion" {
			cc.subFlags = map[string][]completionFlag{}
			for _, s := range cc.subs {
				cc.subFlags[s] = helpFlags(name, s)
			}
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// helpFlags runs `keyward ARGS --help` with no daemon, environment or terminal and reads the flags it lists.
func helpFlags(args ...string) []completionFlag {
	var out bytes.Buffer
	c := newCLI(&out, io.Discard)
	c.stdin = bytes.NewReader(nil)
	c.getenv = func(string) string { return "" }
	c.lookupEnv = func(string) (string, bool) { return "", false }
	c.openTTY = func() (*os.File, error) { return nil, errors.New("no terminal") }
	c.offline = offline{}
	cmd, ok := commands[args[0]]
	if !ok {
		return nil
	}
	func() {
		defer func() { recover() }()
		cmd.run(c, append(append([]string{}, args[1:]...), "--help"))
	}()
	if c.conn != nil {
		c.conn.Close()
	}
	var flags []completionFlag
	sc := bufio.NewScanner(&out)
	inFlags := false
	for sc.Scan() {
		line := sc.Text()
		if line == "flags:" {
			inFlags = true
			continue
		}
		if !inFlags || !strings.HasPrefix(line, "  -") {
			continue
		}
		fields := strings.Fields(line)
		flags = append(flags, completionFlag{name: strings.TrimPrefix(fields[0], "-"), value: len(fields) > 1})
	}
	return append(flags, completionFlag{name: "help"})
}

func flagWords(fs []completionFlag) string {
	var w []string
	for _, f := range fs {
		w = append(w, "--"+f.name)
	}
	return strings.Join(w, " ")
}

// isFileFlag reports whether a value flag names a file (completed with file names); other values get nothing.
func isFileFlag(name string) bool {
	switch name {
	case "in", "out", "root-key", "cert", "chain", "key", "manifest", "signature", "sig", "data", "report":
		return true
	}
	return strings.HasSuffix(name, "-source") || strings.HasSuffix(name, "file")
}

func bashCompletion(cmds []completionCommand) string {
	var b strings.Builder
	names := []string{"help"}
	for _, c := range cmds {
		names = append(names, c.name)
	}
	fmt.Fprintf(&b, `# bash completion for keyward; generated by "keyward completion bash".
# Load it with:  source <(keyward completion bash)

_keyward_colon() {
    # bash splits words at ':' (COMP_WORDBREAKS); complete the part after the last ':' only.
    local word=$1; shift
    COMPREPLY=($(compgen -W "$*" -- "$word"))
    if [[ "$word" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local colon="${word%%"${word##*:}"}"
        local i
        for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="${COMPREPLY[i]#"$colon"}"; done
    fi
}

_keyward() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local -a words
    read -ra words <<< "$line"
    local cur=""
    if [[ "$line" != *[[:space:]] && ${#words[@]} -gt 1 ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    local prev="${words[${#words[@]}-1]}"
    COMPREPLY=()
    case "$prev" in
        --store) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
        --type) _keyward_colon "$cur" %s; return 0 ;;
    esac
    local i=1 cmd="" sub=""
    while (( i < ${#words[@]} )); do
        case "${words[i]}" in
            --store|--root-key) (( i += 2 )); continue ;;
            --store=*|--root-key=*) (( i++ )); continue ;;
        esac
        cmd="${words[i]}"
        sub="${words[i+1]}"
        break
    done
    if [[ -z "$cmd" ]]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "--store --root-key --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "%s" -- "$cur"))
        fi
        return 0
    fi
    local subs="" flags="" files=""
    case "$cmd" in
        help) (( ${#words[@]} == i + 1 )) && COMPREPLY=($(compgen -W "%s" -- "$cur")); return 0 ;;
`, strings.Join(completionKeyTypes, " "), strings.Join(names, " "), strings.Join(names[1:], " "))
	var fileFlags []string
	seen := map[string]bool{"--root-key": true}
	fileFlags = append(fileFlags, "--root-key")
	addFiles := func(fs []completionFlag) {
		for _, f := range fs {
			if f.value && isFileFlag(f.name) && !seen["--"+f.name] {
				seen["--"+f.name] = true
				fileFlags = append(fileFlags, "--"+f.name)
			}
		}
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "        %s)\n", c.name)
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "            subs=%q\n", strings.Join(c.subs, " "))
			if len(c.subFlags) > 0 {
				b.WriteString("            case \"$sub\" in\n")
				for _, s := range c.subs {
					fmt.Fprintf(&b, "                %s) flags=%q ;;\n", s, flagWords(c.subFlags[s]))
					addFiles(c.subFlags[s])
				}
				b.WriteString("            esac\n")
			}
		} else {
			fmt.Fprintf(&b, "            flags=%q\n", flagWords(c.flags))
			addFiles(c.flags)
		}
		b.WriteString("            ;;\n")
	}
	fmt.Fprintf(&b, `    esac
    case "$prev" in
        %s) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    esac
    if [[ -n "$subs" ]] && (( ${#words[@]} == i + 1 )); then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return 0
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
}

complete -o filenames -F _keyward keyward
`, strings.Join(fileFlags, "|"))
	return b.String()
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func zshCompletion(cmds []completionCommand) string {
	var b strings.Builder
	b.WriteString(`#compdef keyward
# zsh completion for keyward; generated by "keyward completion zsh".
# Install it as _keyward in a directory of $fpath, or load it with:  source <(keyward completion zsh)

_keyward() {
    local -a cmds
    cmds=(
        'help:show the usage'
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "        %s\n", zshQuote(c.name+":"+strings.ReplaceAll(c.help, ":", `\:`)))
	}
	fmt.Fprintf(&b, `    )
    local i=2 cmd sub
    while (( i < CURRENT )); do
        case ${words[i]} in
            --store|--root-key) (( i += 2 )); continue ;;
            --store=*|--root-key=*) (( i++ )); continue ;;
        esac
        break
    done
    case ${words[CURRENT-1]} in
        --store) _files -/; return ;;
        --root-key) _files; return ;;
        --type) compadd -- %s; return ;;
    esac
    if (( i >= CURRENT )); then
        if [[ $PREFIX == -* ]]; then
            compadd -- --store --root-key --help
        else
            _describe -t commands 'keyward command' cmds
        fi
        return
    fi
    cmd=${words[i]}
    sub=${words[i+1]}
    local -a subs flags
    case $cmd in
        help) (( CURRENT == i + 1 )) && _describe -t commands 'keyward command' cmds; return ;;
`, strings.Join(completionKeyTypes, " "))
	for _, c := range cmds {
		fmt.Fprintf(&b, "        %s)\n", c.name)
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "            subs=(%s)\n", strings.Join(c.subs, " "))
			if len(c.subFlags) > 0 {
				b.WriteString("            case $sub in\n")
				for _, s := range c.subs {
					fmt.Fprintf(&b, "                %s) flags=(%s) ;;\n", s, flagWords(c.subFlags[s]))
				}
				b.WriteString("            esac\n")
			}
		} else {
			fmt.Fprintf(&b, "            flags=(%s)\n", flagWords(c.flags))
		}
		b.WriteString("            ;;\n")
	}
	b.WriteString(`    esac
    if (( ${#subs} )) && (( CURRENT == i + 1 )); then
        compadd -- $subs
        return
    fi
    if [[ $PREFIX == -* ]]; then
        compadd -- $flags
        return
    fi
    _files
}

if [ "$funcstack[1]" = "_keyward" ]; then
    _keyward "$@"
else
    compdef _keyward keyward
fi
`)
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func fishCompletion(cmds []completionCommand) string {
	var b strings.Builder
	b.WriteString(`# fish completion for keyward; generated by "keyward completion fish".
# Install it as ~/.config/fish/completions/keyward.fish, or load it with:  keyward completion fish | source

# __keyward_cmd prints the command and its next word, skipping the global --store/--root-key.
function __keyward_cmd
    set -l tokens (commandline -opc)
    set -e tokens[1]
    while set -q tokens[1]
        switch $tokens[1]
            case --store --root-key
                set -e tokens[1]
                set -q tokens[1]; and set -e tokens[1]
            case '--store=*' '--root-key=*'
                set -e tokens[1]
            case '*'
                echo $tokens[1]
                set -q tokens[2]; and echo $tokens[2]
                return 0
        end
    end
    return 1
end

function __keyward_needs_command
    not __keyward_cmd >/dev/null
end

function __keyward_using -a cmd
    set -l t (__keyward_cmd)
    test "$t[1]" = "$cmd"
end

function __keyward_needs_sub -a cmd
    set -l t (__keyward_cmd)
    test "$t[1]" = "$cmd"; and test (count $t) -eq 1
end

function __keyward_using_sub -a cmd sub
    set -l t (__keyward_cmd)
    test "$t[1]" = "$cmd"; and test "$t[2]" = "$sub"
end

complete -c keyward -n __keyward_needs_command -f
complete -c keyward -n __keyward_needs_command -l store -x -a '(__fish_complete_directories)' -d 'open the store directly (offline)'
complete -c keyward -n __keyward_needs_command -l root-key -r -F -d 'the store root key (with --store)'
complete -c keyward -n __keyward_needs_command -a help -d 'show the usage'
`)
	flagLines := func(cond string, fs []completionFlag) {
		for _, f := range fs {
			opt := ""
			switch {
			case f.name == "type" && cond == fishQuote("__keyward_using_sub key generate"):
				opt = " -x -a " + fishQuote(strings.Join(completionKeyTypes, " "))
			case f.value && isFileFlag(f.name):
				opt = " -r -F"
			case f.value:
				opt = " -x"
			}
			fmt.Fprintf(&b, "complete -c keyward -n %s -l %s%s\n", cond, f.name, opt)
		}
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c keyward -n __keyward_needs_command -a %s -d %s\n", c.name, fishQuote(c.help))
	}
	for _, c := range cmds {
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "complete -c keyward -n %s -f -a %s\n", fishQuote("__keyward_needs_sub "+c.name), fishQuote(strings.Join(c.subs, " ")))
			for _, s := range c.subs {
				flagLines(fishQuote("__keyward_using_sub "+c.name+" "+s), c.subFlags[s])
			}
		} else {
			flagLines(fishQuote("__keyward_using "+c.name), c.flags)
		}
	}
	return b.String()
}

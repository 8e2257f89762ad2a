package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionGroups checks that completion offers exactly the subcommands each group answers for: a group
// run without one lists its choices ("token: missing subcommand (list, info, init or delete)").
func TestCompletionGroups(t *testing.T) {
	for _, group := range []string{"token", "pin", "key", "data"} {
		r := kw(t, nil, group)
		i, j := strings.Index(r.stderr, "("), strings.LastIndex(r.stderr, ")")
		if r.code == 0 || i < 0 || j < i {
			t.Fatalf("keyward %s: exit %d, stderr %q: want the list of subcommands", group, r.code, r.stderr)
		}
		choices := strings.FieldsFunc(r.stderr[i+1:j], func(c rune) bool { return c == ',' || c == ' ' })
		var answered []string
		for _, c := range choices {
			if c != "or" {
				answered = append(answered, c)
			}
		}
		if got := strings.Join(subcommands[group], " "); got != strings.Join(answered, " ") {
			t.Errorf("completion offers %s subcommands %q, the group answers %q", group, got, answered)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			r := kw(t, nil, "completion", shell)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			script := r.stdout
			for name := range commands {
				if !strings.Contains(script, name) {
					t.Errorf("%s script does not name command %q", shell, name)
				}
			}
			for cmd, subs := range subcommands {
				for _, s := range subs {
					if !strings.Contains(script, s) {
						t.Errorf("%s script does not name %s %s", shell, cmd, s)
					}
				}
			}
			for _, want := range append([]string{"--store", "--root-key", "--type", "--json", "--pin-source"}, completionKeyTypes...) {
				if shell == "fish" && strings.HasPrefix(want, "--") {
					want = "-l " + want[2:] // complete -c keyward ... -l json
				}
				if !strings.Contains(script, want) {
					t.Errorf("%s script does not contain %q", shell, want)
				}
			}
			path, err := exec.LookPath(shell)
			if err != nil {
				t.Logf("%s is not installed: checked the text only", shell)
				return
			}
			file := filepath.Join(t.TempDir(), "keyward."+shell)
			if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
				t.Fatalf("%s -n rejects the script: %v\n%s", shell, err, out)
			}
		})
	}
}

// TestCompletionBashBehaviour runs the bash completion function on a few command lines.
func TestCompletionBashBehaviour(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	script := writeFile(t, "keyward.bash", []byte(ok(t, nil, "completion", "bash")))
	driver := `source "$1"
t() { COMP_LINE="$1"; COMP_POINT=${#1}; COMP_WORDS=($1); COMP_CWORD=${#COMP_WORDS[@]}; COMPREPLY=(); _keyward; echo "${COMPREPLY[*]}"; }
t "keyward to"
t "keyward --store /tmp/s to"
t "keyward token "
t "keyward token info --t"
t "keyward key generate --type rsa:4"
t "keyward key generate --type ml-k"
t "keyward completion "
t "keyward help prov"
`
	out, err := exec.Command(bash, "-c", driver, "driver", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := []string{"token", "token", "list info init delete", "--token", "4096", "ml-kem-512 ml-kem-768 ml-kem-1024", "bash zsh fish", "provision"}
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestCompletionKeyTypesParse(t *testing.T) {
	for _, typ := range completionKeyTypes {
		if _, err := parseKeyType(typ); err != nil {
			t.Errorf("completion offers --type %s, which key generate refuses: %v", typ, err)
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	fails(t, kw(t, nil, "completion"), exitUsage, "bash, zsh or fish")
	fails(t, kw(t, nil, "completion", "tcsh"), exitUsage, "unknown shell")
	if out := ok(t, nil, "completion", "--help"); !strings.Contains(out, "keyward completion bash") {
		t.Fatalf("help %q", out)
	}
}

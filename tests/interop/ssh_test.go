package interop

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Scenario 5: OpenSSH. `ssh-keygen -D libkeyward.so` lists the token's keys; an sshd of the test's own (127.0.0.1,
// a free port, its own configuration, host key and authorized_keys, nothing of the system's) accepts a login
// authorised by a token key, first with `ssh -I libkeyward.so`, then through an ssh-agent loaded with
// `ssh-add -s libkeyward.so`; each login runs a command whose output is checked. RSA and ECDSA keys both.
//
// The PIN reaches ssh and ssh-add through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force), as a desktop prompt would.
// ssh offers exactly the token key under test: IdentityFile names its public key file and IdentitiesOnly=yes,
// which is how OpenSSH selects one key among a PKCS#11 module's (or an agent's) keys; without it ssh offers
// every key of every token in turn and sshd's MaxAuthTries (6) ends the login before the right one. IdentityAgent
// is none for the -I logins.
func TestOpenSSH(t *testing.T) {
	const sc = "5 OpenSSH"
	daemon(t)
	sshKeygen := program(t, "ssh-keygen")
	ssh := program(t, "ssh")
	version := func() string { return progVersion("ssh", "-V") }
	tk := newToken(t, "openssh")
	keys := []struct{ label, id, kind string }{{"ssh-rsa-key", "51", "RSA"}, {"ssh-ec-key", "52", "ECDSA"}}
	tk.genKey(t, "rsa:2048", keys[0].label, keys[0].id)
	tk.genKey(t, "EC:prime256v1", keys[1].label, keys[1].id)

	dir := tmpDir(t)
	sockDir, err := os.MkdirTemp("", "kwssh-") // short: the agent's socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })

	// The token keys in OpenSSH's authorized_keys form, converted by ssh-keygen from their SPKI.
	authLine := map[string]string{}
	fingerprint := map[string]string{}
	for _, k := range keys {
		pemFile := pubPEM(t, dir, k.label+".spki.pem", tk.public(t, k.label))
		r := mustRun(t, runOpts{}, sshKeygen, "-i", "-m", "PKCS8", "-f", pemFile)
		authLine[k.label] = strings.TrimSpace(r.stdout)
		pubFile := writeFile(t, dir, k.label+".pub", []byte(authLine[k.label]+" "+k.label+"\n"), 0o644)
		r = mustRun(t, runOpts{}, sshKeygen, "-l", "-f", pubFile)
		fingerprint[k.label] = strings.Fields(r.stdout)[1]
	}

	mod, spyEnv := moduleFor(t, "openssh")
	askpass := writeFile(t, dir, "askpass", []byte("#!/bin/sh\necho '"+userPIN+"'\n"), 0o700)
	env := append([]string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}, spyEnv...)

	step(t, sc, "ssh-keygen -D lists the token keys", "ssh-keygen", version, func(t *testing.T) {
		r := mustRun(t, runOpts{env: env}, sshKeygen, "-D", mod)
		for _, k := range keys {
			mustContain(t, r, r.stdout, authLine[k.label]+" "+k.label)
		}
	})

	// The test's own sshd.
	var (
		port      int
		authKeys  = filepath.Join(dir, "authorized_keys")
		knownHost = filepath.Join(dir, "known_hosts")
		login     string
		sshdErr   string
	)
	func() {
		sshd := program(t, "sshd")
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		login = u.Username
		if os.Geteuid() == 0 {
			// sshd running as root needs its privilege separation directory, which Debian's service unit
			// creates (RuntimeDirectory=sshd); no system sshd runs here.
			if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
				sshdErr = fmt.Sprintf("creating /run/sshd: %v", err)
				return
			}
		}
		hostKey := filepath.Join(dir, "host_ed25519")
		mustRun(t, runOpts{}, sshKeygen, "-q", "-t", "ed25519", "-N", "", "-C", "keyward-interop-host", "-f", hostKey)
		port = freePort(t)
		hostPub := strings.Fields(string(readFile(t, hostKey+".pub")))
		writeFile(t, dir, "known_hosts", []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, hostPub[0], hostPub[1])), 0o644)
		writeFile(t, dir, "authorized_keys", nil, 0o600)
		cfg := writeFile(t, dir, "sshd_config", []byte(fmt.Sprintf(`# keyward interop test: a private sshd on loopback
ListenAddress 127.0.0.1:%d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AuthorizedPrincipalsFile none
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
UsePAM no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PermitTTY no
PrintMotd no
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, port, hostKey, filepath.Join(dir, "sshd.pid"), authKeys, login)), 0o644)
		if r := execProg(t, runOpts{}, sshd, "-t", "-f", cfg); r.err != nil {
			sshdErr = "sshd -t rejects the test configuration:\n" + r.String()
			return
		}
		srv := startServer(t, nil, sshd, "-D", "-e", "-f", cfg)
		srv.waitTCP(t, port)
	}()

	sshArgs := func(label string, extra ...string) []string {
		args := []string{"-F", "/dev/null", "-v", "-p", strconv.Itoa(port),
			"-o", "UserKnownHostsFile=" + knownHost, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
			"-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-o", "HostbasedAuthentication=no",
			"-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5"}
		args = append(args, "-o", "IdentityFile="+filepath.Join(dir, label+".pub"))
		args = append(args, extra...)
		return append(args, login+"@127.0.0.1", "echo keyward-login:$((6*7)):$(id -un)")
	}
	wantOut := fmt.Sprintf("keyward-login:42:%s\n", login)
	// loginWith authorises exactly one token key, logs in with ssh and the extra options, and checks the output.
	// via is how ssh -v names the key it signs with: "token" (the PKCS#11 module) or "agent".
	loginWith := func(t *testing.T, label, via string, extra ...string) {
		t.Helper()
		if sshdErr != "" {
			t.Fatal(sshdErr)
		}
		writeFile(t, dir, "authorized_keys", []byte(authLine[label]+" "+label+"\n"), 0o600)
		r := execProg(t, runOpts{env: env}, ssh, sshArgs(label, extra...)...)
		if r.err != nil || r.stdout != wantOut {
			t.Fatalf("ssh login with token key %s: want output %q\n%s", label, wantOut, r)
		}
		accepted := ""
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "Server accepts key: ") {
				accepted = line
			}
		}
		if !strings.Contains(accepted, fingerprint[label]) || !strings.HasSuffix(strings.TrimSpace(accepted), " "+via) {
			t.Fatalf("ssh did not authenticate with token key %s (%s) through the %s:\n%s", label, fingerprint[label], via, r)
		}
	}

	step(t, sc, "ssh -I libkeyward.so login to sshd (RSA, ECDSA)", "ssh", version, func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) { loginWith(t, k.label, "token", "-I", mod, "-o", "IdentityAgent=none") })
		}
	})

	var agentSock string
	parent := t // the agent outlives its step: the login step uses it
	agentOK := step(t, sc, "ssh-agent + ssh-add -s libkeyward.so", "ssh-agent, ssh-add", version, func(t *testing.T) {
		agent := program(t, "ssh-agent")
		sshAdd := program(t, "ssh-add")
		agentSock = filepath.Join(sockDir, "agent.sock")
		real, err := filepath.EvalSymlinks(mod)
		if err != nil {
			t.Fatal(err)
		}
		// -P: the agent loads only modules on this allow-list (by default /usr/lib*/*, /usr/local/lib*/*).
		srv := startServer(parent, env, agent, "-D", "-a", agentSock, "-P", real+","+mod)
		srv.waitDial(t, "unix", agentSock)
		aenv := append([]string{"SSH_AUTH_SOCK=" + agentSock}, env...)
		r := execProg(t, runOpts{env: aenv}, sshAdd, "-s", mod)
		if r.err != nil {
			t.Fatalf("ssh-add -s failed:\n%s\n--- ssh-agent:\n%s", r, srv.output())
		}
		r = mustRun(t, runOpts{env: aenv}, sshAdd, "-l")
		for _, k := range keys {
			mustContain(t, r, r.stdout, fingerprint[k.label]+" "+k.label+" ("+k.kind+")")
		}
		r = mustRun(t, runOpts{env: aenv}, sshAdd, "-L")
		for _, k := range keys {
			mustContain(t, r, r.stdout, authLine[k.label])
		}
	})

	step(t, sc, "ssh login through the agent (RSA, ECDSA)", "ssh", version, func(t *testing.T) {
		if !agentOK {
			t.Fatal("needs the agent of the ssh-add -s step, which failed")
		}
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) { loginWith(t, k.label, "agent", "-o", "IdentityAgent="+agentSock) })
		}
	})
}

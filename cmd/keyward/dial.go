package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyward/keyward/pkg/client"
)

// dialError says in words why keywardd cannot be reached.
func dialError(o client.Options, err error) error {
	var why string
	msg := err.Error()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		why = fmt.Sprintf("it accepts connections but does not answer within %v (KEYWARD_TIMEOUT_MS)", o.Timeout)
	case strings.Contains(msg, "cannot start keywardd"):
		why = "nothing listens there and " + msg[strings.Index(msg, "cannot start keywardd"):]
		why = strings.TrimSuffix(why, ")")
	case strings.Contains(msg, "after starting keywardd"):
		why = "keywardd was started but its socket did not appear (see its log, $XDG_STATE_HOME/keyward/keywardd.log)"
	case !o.Autostart:
		why = "is it running? keyward starts it only for the user-mode socket (KEYWARD_AUTOSTART=1 for others)"
	default:
		why = "keyward doctor checks the setup"
	}
	return &cliError{code: exitDaemon, msg: fmt.Sprintf("cannot reach keywardd at %s: %s", o.Path, why)}
}

// socketPath is $KEYWARD_SOCKET, else the socket the clients use by default.
func (c *cli) socketPath() string {
	if p := c.getenv("KEYWARD_SOCKET"); p != "" {
		return p
	}
	return client.SocketPath()
}

// dial connects to keywardd once per run (in offline mode, to the store the CLI serves itself) and
// returns the connection.
func (c *cli) dial() (*client.Client, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	o := client.DefaultOptions(c.getenv) // the socket, autostart and KEYWARD_TIMEOUT_MS, as libkeyward.so
	if c.offline.store != "" {
		var err error
		if o.Path, err = c.startOffline(); err != nil {
			return nil, err
		}
		o.Autostart = false
	}
	cl, err := client.DialWith(o)
	if err != nil {
		return nil, dialError(o, err)
	}
	c.conn = cl
	return cl, nil
}

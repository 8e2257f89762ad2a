package integration
import (
	"testing"
	"fmt"
	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)
func TestProbe(t *testing.T) {
	c, err := client.Dial("")
	if err != nil { t.Fatal(err) }
	s, err := c.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil { t.Fatal(err) }
	if err := c.Login(s, ck.CKU_USER, []byte("1111")); err != nil { t.Fatal(err) }
	c.FindObjectsInit(s, nil)
	hs, _ := c.FindObjects(s, 100)
	c.FindObjectsFinal(s)
	for _, h := range hs {
		res, err := c.GetAttributeValue(s, h, []ck.Attribute{{Type: ck.CKA_LABEL, Kind: ck.AttrBuffer, Len: 100},{Type: ck.CKA_MODIFIABLE, Kind: ck.AttrBuffer, Len: 1},{Type: ck.CKA_PRIVATE, Kind: ck.AttrBuffer, Len: 1},{Type: ck.CKA_TOKEN, Kind: ck.AttrBuffer, Len: 1}})
		fmt.Printf("%d %v %+v\n", h, err, res)
	}
}

package sqlitepool_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sqlitepool/sqlitepool"
)

func ExampleHandle_Subscribe() {
	h := openUsers()
	defer h.Close()

	sub, err := h.Subscribe("users")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	err = h.Write(context.Background(), func(_ context.Context, c *sqlitepool.Conn) error {
		if err := c.Exec("INSERT INTO users(name) VALUES ('margaret')"); err != nil {
			return err
		}
		return c.Exec("UPDATE users SET age = 37 WHERE name = 'ada'")
	})
	if err != nil {
		log.Fatal(err)
	}
	// Delivered once the transaction committed and the writer was released.
	ch := <-sub.C()
	fmt.Printf("change %d: %+v\n", ch.Seq, ch.Tables["users"])
	// Output: change 1: {Inserts:1 Updates:1 Deletes:0}
}

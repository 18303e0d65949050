// Auto-scroll for the message list: follow new content while the reader is at the bottom; stop
// as soon as they scroll up (wheel, touch, keys or the scrollbar) and offer "jump to latest".

const SLACK = 48; // px from the bottom that still counts as "at the bottom"

export class Follower {
  /**
   * @param {HTMLElement} scroller the message list
   * @param {HTMLElement} jumpButton "jump to latest"
   */
  constructor(scroller, jumpButton) {
    this.el = scroller;
    this.jump = jumpButton;
    this.stick = true;
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    scroller.addEventListener("wheel", (event) => {
      if (event.deltaY < 0) this.release();
    }, { passive: true });
    scroller.addEventListener("keydown", (event) => {
      if (["PageUp", "ArrowUp", "Home"].includes(event.key)) this.release();
    });
    jumpButton.addEventListener("click", () => {
      // the button hides itself: keep the focus in the thread it scrolled, not on <body>
      const hadFocus = document.activeElement === jumpButton;
      this.toBottom();
      if (hadFocus) scroller.focus({ preventScroll: true });
    });
  }

  atBottom() {
    const el = this.el;
    return el.scrollHeight - el.scrollTop - el.clientHeight <= SLACK;
  }

  release() {
    if (this.el.scrollHeight > this.el.clientHeight) this.stick = false;
  }

  onScroll() {
    if (this.atBottom()) {
      this.stick = true;
      this.jump.hidden = true;
    } else if (!this.programmatic) {
      this.stick = false;
    }
    this.programmatic = false;
  }

  /** Content grew or changed: keep up, or show the jump button. */
  onContent() {
    if (this.stick) this.scrollDown();
    else if (!this.atBottom()) this.jump.hidden = false;
  }

  toBottom() {
    this.stick = true;
    this.jump.hidden = true;
    this.scrollDown();
  }

  scrollDown() {
    const el = this.el;
    const target = el.scrollHeight - el.clientHeight;
    if (el.scrollTop < target - 1) {
      this.programmatic = true;
      el.scrollTop = target;
    }
  }
}

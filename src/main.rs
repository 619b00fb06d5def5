fn main() {
    println!("sluice: server coming");
}
